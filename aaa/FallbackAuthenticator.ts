// auth.backend radius-then-local: RADIUS decides whenever a RADIUS server answers; the local store
// is asked only when none did (every server timed out or every reply was dropped). An Access-Reject
// is final: falling back on a Reject would let a user the directory disabled in through a stale
// local account.
import type { Logger } from 'pino';
import type { AuthResult, Authenticator, BasicAuthResult, ChapMd5Request, ExtendedAuthenticator, MsChapV1Request, MsChapV2Request, PapRequest } from '../ppp/Authenticator.js';
import { RadiusUnavailableError } from './RadiusAuthenticator.js';
import { authenticatorForSession, type AuthSessionContext, type SessionAwareAuthenticator } from './SessionAuthContext.js';

const E_AUTHENTICATION_FAILURE = 691;

export class FallbackAuthenticator implements ExtendedAuthenticator, SessionAwareAuthenticator {
  /**
   * @param radius must throw RadiusUnavailableError when no server answered (RadiusAuthenticator with onUnavailable 'throw').
   * @param local the built-in store.
   */
  constructor(
    private readonly radius: ExtendedAuthenticator & Partial<SessionAwareAuthenticator>,
    private readonly local: ExtendedAuthenticator,
    private readonly log: Logger,
  ) {}

  forSession(context: AuthSessionContext): FallbackAuthenticator {
    return new FallbackAuthenticator(authenticatorForSession<ExtendedAuthenticator>(this.radius, context), authenticatorForSession<ExtendedAuthenticator>(this.local, context), this.log);
  }

  verifyMsChapV2(request: MsChapV2Request): Promise<AuthResult> {
    return this.decide('MS-CHAPv2', request.username, this.radius, (a) => a.verifyMsChapV2(request));
  }

  verifyMsChapV1(request: MsChapV1Request): Promise<BasicAuthResult> {
    return this.decide('MS-CHAPv1', request.username, this.radius.verifyMsChapV1, (a) => call(a.verifyMsChapV1, a, request));
  }

  verifyChapMd5(request: ChapMd5Request): Promise<BasicAuthResult> {
    return this.decide('CHAP-MD5', request.username, this.radius.verifyChapMd5, (a) => call(a.verifyChapMd5, a, request));
  }

  verifyPap(request: PapRequest): Promise<BasicAuthResult> {
    return this.decide('PAP', request.username, this.radius.verifyPap, (a) => call(a.verifyPap, a, request));
  }

  private async decide<R extends AuthResult | BasicAuthResult>(method: string, username: string, radiusCan: unknown, verify: (a: ExtendedAuthenticator) => Promise<R>): Promise<R> {
    if (radiusCan) {
      try {
        return await verify(this.radius);
      } catch (e) {
        if (!(e instanceof RadiusUnavailableError)) throw e;
        this.log.warn({ user: username, method, why: e.message }, 'no RADIUS server answered: asking the local user store');
      }
    }
    const result = await verify(this.local);
    if (result.ok) result.authorization = { ...result.authorization, source: 'local (RADIUS unavailable)' };
    return result;
  }
}

/** A method the backend may lack (ExtendedAuthenticator): missing ⇒ a clean failure. */
async function call<Q>(method: ((q: Q) => Promise<BasicAuthResult>) | undefined, self: Authenticator, request: Q): Promise<BasicAuthResult> {
  if (!method) return { ok: false, errorCode: E_AUTHENTICATION_FAILURE, message: 'the local user store cannot check this protocol' };
  return method.call(self, request);
}
