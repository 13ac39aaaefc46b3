import { t } from '../i18n';
import { screen } from '../state';
import { Inbox } from './Inbox';
import { Setup, SignIn } from './SignIn';

export function App() {
  switch (screen.value) {
    case 'loading':
      return <p class="loading">{t('list.loading')}</p>;
    case 'signin':
      return <SignIn />;
    case 'setup':
      return <Setup />;
    case 'inbox':
      return <Inbox />;
  }
}
