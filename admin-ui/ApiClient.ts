// The pages' one way to the server: JSON in and out, the CSRF token on every change, and back
// to the login page when the login has ended.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Per-field messages of a refused form. */
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

let csrf = '';

export interface Me {
  account: string;
  kind: 'session' | 'token';
  csrf?: string;
}

export async function loadMe(): Promise<Me> {
  const me = await api<Me>('GET', '/api/me');
  csrf = me.csrf ?? '';
  return me;
}

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (res.status === 401) {
    location.assign('/');
    throw new ApiError(401, 'login required');
  }
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => ({}))) as { error?: string; fields?: Record<string, string> };
  if (!res.ok) throw new ApiError(res.status, data.error ?? `HTTP ${res.status}`, data.fields ?? {});
  return data as T;
}
