// The login page's only script (served without a login): posts the form, goes to the sessions.
// Standalone on purpose: it imports nothing that a visitor without a login would need to load.
export {};
const form = document.querySelector<HTMLFormElement>('#login-form')!;
const error = document.querySelector<HTMLParagraphElement>('#login-error')!;

function show(message: string): void {
  error.textContent = message;
  error.hidden = false;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const username = String(data.get('username') ?? '').trim();
  const password = String(data.get('password') ?? '');
  if (!username || !password) {
    show('Enter your user name and password.');
    return;
  }
  const button = form.querySelector('button')!;
  button.disabled = true;
  void fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
    credentials: 'same-origin',
  })
    .then(async (res) => {
      if (res.ok) {
        location.assign('/sessions');
        return;
      }
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      show(body.error ?? `Login failed (${res.status}).`);
      form.querySelector<HTMLInputElement>('input[name=password]')!.value = '';
    })
    .catch(() => show('The console cannot be reached.'))
    .finally(() => {
      button.disabled = false;
    });
});
