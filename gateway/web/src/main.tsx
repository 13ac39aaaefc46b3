import { render } from 'preact';
import { effect } from '@preact/signals';
import { whenUnauthorized } from './api/client';
import { lang } from './i18n';
import { dialogFromPath, open, openDialog, page, pageFromPath, screen, signedOut, start } from './state';
import { App } from './ui/App';
import './styles.css';

effect(() => {
  document.documentElement.lang = lang.value;
});

whenUnauthorized(() => {
  if (screen.value === 'inbox') signedOut();
});

window.addEventListener('popstate', () => {
  page.value = pageFromPath(window.location.pathname);
  const dialog = dialogFromPath(window.location.pathname);
  if (dialog) void open(dialog, { push: false });
  else openDialog.value = null;
});

render(<App />, document.getElementById('app') as HTMLElement);
void start();
