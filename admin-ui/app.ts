// The console shell: finds the page from the path, marks it in the menu, mounts it.
import { api, loadMe } from './ApiClient.js';
import { mountAccountPage } from './pages/AccountPage.js';
import { mountEventsPage } from './pages/EventsPage.js';
import { mountSessionsPage } from './pages/SessionsPage.js';
import { mountSettingsPage } from './pages/SettingsPage.js';
import { mountUsersPage } from './pages/UsersPage.js';

async function start(): Promise<void> {
  const me = await loadMe();
  document.querySelector('#who')!.textContent = me.account;
  const page = location.pathname.replace(/^\//, '') || 'sessions';
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
  }
  document.querySelector('#logout')!.addEventListener('click', () => {
    void api('POST', '/api/logout').finally(() => location.assign('/'));
  });
  const root = document.querySelector<HTMLElement>('#page')!;
  switch (page) {
    case 'users':
      mountUsersPage(root);
      break;
    case 'events':
      mountEventsPage(root);
      break;
    case 'settings':
      mountSettingsPage(root);
      break;
    case 'account':
      mountAccountPage(root, me.account);
      break;
    default:
      mountSessionsPage(root);
  }
  document.title = `${document.querySelector('#page h1')?.textContent ?? 'Console'} · Portico`;
}

void start();
