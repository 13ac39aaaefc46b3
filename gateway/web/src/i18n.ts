// Every text of the UI, in English and Russian, from one dictionary. The language is the
// browser's first of the two (English otherwise) until the operator picks one; a key missing
// from Russian falls back to English, then to the key itself.

import { signal } from '@preact/signals';

export type Lang = 'en' | 'ru';
export const LANGS: readonly Lang[] = ['en', 'ru'];

const en = {
  'app.name': 'Switchboard',
  'lang.label': 'Language',
  'lang.en': 'English',
  'lang.ru': 'Русский',
  'signin.title': 'Sign in',
  'signin.email': 'Email',
  'signin.password': 'Password',
  'signin.submit': 'Sign in',
  'signin.busy': 'Signing in…',
  'signout': 'Sign out',
  'setup.title': 'Create the first project',
  'setup.intro': 'This installation is empty. Create its first project and its admin with the root token that `switchboard serve` printed at its first start (or the file data/root-token).',
  'setup.root': 'Root token',
  'setup.project': 'Project name',
  'setup.admin_name': 'Your name',
  'setup.submit': 'Create the project',
  'error.network': 'The server does not answer. Nothing you typed is lost: try again.',
  'error.generic': 'Something went wrong: {message}',
  'header.unread': '{n} unread',
  'live.offline': 'Offline — reconnecting…',
  'tabs.label': 'Dialog tabs',
  'tab.all': 'All',
  'tab.unanswered': 'Unanswered',
  'tab.mine': 'Mine',
  'tab.others': "Others'",
  'tab.free': 'Free',
  'folders.label': 'Folders',
  'folder.all': 'All chats',
  'folder.with_operator': 'With operator',
  'list.label': 'Dialogs',
  'list.empty': 'No dialogs here.',
  'list.loading': 'Loading…',
  'list.archived': 'Show closed',
  'author.client': 'Client',
  'author.you': 'You',
  'author.bot': 'Bot',
  'author.note': 'Comment',
  'author.attachment': 'Attachment',
  'row.yours': 'Your client',
  'row.free': 'Free',
  'row.pinned': 'Pinned',
  'row.closed': 'Closed',
  'row.blocked': 'Blocked',
  'row.bot_paused': 'Bot paused',
  'row.draft': 'Draft',
  'row.sla_yellow': 'Waiting long',
  'row.sla_red': 'Waiting too long',
  'row.unread': '{n} unread messages',
  'row.no_messages': 'No messages yet',
  'timeline.label': 'Conversation',
  'timeline.none': 'Choose a dialog on the left (j/k, Enter).',
  'timeline.older': 'Load earlier messages',
  'timeline.start': 'The beginning of the conversation',
  'timeline.note': 'Comment',
  'timeline.failed': 'Not delivered: {reason}',
  'entry.assigned': 'assigned the dialog to {name}',
  'entry.unassigned': 'unassigned the dialog',
  'entry.closed': 'closed the dialog',
  'entry.reopened': 'the dialog reopened',
  'entry.pinned': 'pinned the dialog',
  'entry.unpinned': 'unpinned the dialog',
  'entry.blocked': 'blocked the client',
  'entry.unblocked': 'unblocked the client',
  'entry.blacklisted': 'blacklisted the client',
  'entry.unblacklisted': 'took the client off the blacklist',
  'entry.bot_paused': 'paused the bot',
  'entry.bot_resumed': 'resumed the bot',
  'entry.tags_added': 'tags added: {tags}',
  'entry.tags_removed': 'tags removed: {tags}',
  'entry.funnel': 'funnel block: {block}',
  'entry.stage': 'deal stage: {stage}',
  'entry.other': '{type}',
  'timeline.files': 'Attachments: {n}',
  'delivery.queued': 'queued',
  'delivery.sent': 'sent',
  'delivery.delivered': 'delivered',
  'delivery.read': 'read',
  'delivery.failed': 'failed',
  'service.entry': '{who} {what}',
  'compose.label': 'Reply',
  'compose.placeholder': 'Write a reply… (Enter sends, Shift+Enter for a new line)',
  'compose.send': 'Send',
  'compose.channel': 'Channel',
  'compose.counter': '{n} / {max} characters',
  'compose.too_long': 'Too long: at most {max} characters not counting spaces',
  'compose.draft_saved': 'Draft saved',
  'compose.blocked': 'The client is blocked: nothing can be sent.',
  'compose.no_channel': 'The client has no channel to answer through.',
  'card.label': 'Client card',
  'card.number': 'Client #{n}',
  'card.id': 'Client number',
  'card.phone': 'Phone',
  'card.email': 'Email',
  'card.since': 'First contact',
  'card.identities': 'Channels',
  'card.variables': 'Variables',
  'card.tags': 'Tags',
  'card.lists': 'Lists',
  'card.folders': 'Folders',
  'card.tasks': 'Tasks',
  'card.funnel': 'Funnel block',
  'card.none': '—',
  'action.assign': 'Assignee',
  'action.unassigned': 'Nobody',
  'action.close': 'Close',
  'action.reopen': 'Reopen',
  'action.pin': 'Pin',
  'action.unpin': 'Unpin',
  'shortcuts.title': 'Keyboard shortcuts',
  'shortcuts.next': 'Next dialog',
  'shortcuts.prev': 'Previous dialog',
  'shortcuts.open': 'Open the dialog',
  'shortcuts.reply': 'Write a reply',
  'shortcuts.help': 'This list',
  'shortcuts.leave': 'Leave the reply box / close this list',
  'shortcuts.close': 'Close',
  'time.yesterday': 'yesterday',
} as const;

export type Key = keyof typeof en;

const ru: Partial<Record<Key, string>> = {
  'lang.label': 'Язык',
  'signin.title': 'Вход',
  'signin.email': 'Эл. почта',
  'signin.password': 'Пароль',
  'signin.submit': 'Войти',
  'signin.busy': 'Входим…',
  'signout': 'Выйти',
  'setup.title': 'Создайте первый проект',
  'setup.intro': 'В этой установке ещё ничего нет. Создайте первый проект и его администратора с корневым токеном, который `switchboard serve` напечатал при первом запуске (или из файла data/root-token).',
  'setup.root': 'Корневой токен',
  'setup.project': 'Название проекта',
  'setup.admin_name': 'Ваше имя',
  'setup.submit': 'Создать проект',
  'error.network': 'Сервер не отвечает. Всё набранное сохранено: попробуйте ещё раз.',
  'error.generic': 'Что-то пошло не так: {message}',
  'header.unread': 'Непрочитанных: {n}',
  'live.offline': 'Нет связи — переподключаемся…',
  'tabs.label': 'Вкладки диалогов',
  'tab.all': 'Все',
  'tab.unanswered': 'Неотвеченные',
  'tab.mine': 'Мои',
  'tab.others': 'Чужие',
  'tab.free': 'Свободные',
  'folders.label': 'Папки',
  'folder.all': 'Все чаты',
  'folder.with_operator': 'С оператором',
  'list.label': 'Диалоги',
  'list.empty': 'Здесь нет диалогов.',
  'list.loading': 'Загрузка…',
  'list.archived': 'Показать закрытые',
  'author.client': 'Клиент',
  'author.you': 'Вы',
  'author.bot': 'Бот',
  'author.note': 'Комментарий',
  'author.attachment': 'Вложение',
  'row.yours': 'Ваш клиент',
  'row.free': 'Свободный',
  'row.pinned': 'Закреплён',
  'row.closed': 'Закрыт',
  'row.blocked': 'Заблокирован',
  'row.bot_paused': 'Бот на паузе',
  'row.draft': 'Черновик',
  'row.sla_yellow': 'Долго ждёт',
  'row.sla_red': 'Ждёт слишком долго',
  'row.unread': 'Непрочитанных сообщений: {n}',
  'row.no_messages': 'Сообщений пока нет',
  'timeline.label': 'Переписка',
  'timeline.none': 'Выберите диалог слева (j/k, Enter).',
  'timeline.older': 'Показать более ранние',
  'timeline.start': 'Начало переписки',
  'timeline.note': 'Комментарий',
  'timeline.failed': 'Не доставлено: {reason}',
  'entry.assigned': 'назначил(а) диалог: {name}',
  'entry.unassigned': 'снял(а) ответственного',
  'entry.closed': 'закрыл(а) диалог',
  'entry.reopened': 'диалог открыт снова',
  'entry.pinned': 'закрепил(а) диалог',
  'entry.unpinned': 'открепил(а) диалог',
  'entry.blocked': 'заблокировал(а) клиента',
  'entry.unblocked': 'разблокировал(а) клиента',
  'entry.blacklisted': 'добавил(а) клиента в чёрный список',
  'entry.unblacklisted': 'убрал(а) клиента из чёрного списка',
  'entry.bot_paused': 'поставил(а) бота на паузу',
  'entry.bot_resumed': 'возобновил(а) бота',
  'entry.tags_added': 'добавлены теги: {tags}',
  'entry.tags_removed': 'сняты теги: {tags}',
  'entry.funnel': 'блок воронки: {block}',
  'entry.stage': 'этап сделки: {stage}',
  'entry.other': '{type}',
  'timeline.files': 'Вложений: {n}',
  'delivery.queued': 'в очереди',
  'delivery.sent': 'отправлено',
  'delivery.delivered': 'доставлено',
  'delivery.read': 'прочитано',
  'delivery.failed': 'ошибка',
  'service.entry': '{who} {what}',
  'compose.label': 'Ответ',
  'compose.placeholder': 'Напишите ответ… (Enter — отправить, Shift+Enter — новая строка)',
  'compose.send': 'Отправить',
  'compose.channel': 'Канал',
  'compose.counter': '{n} / {max} символов',
  'compose.too_long': 'Слишком длинно: не более {max} символов без пробелов',
  'compose.draft_saved': 'Черновик сохранён',
  'compose.blocked': 'Клиент заблокирован: отправка невозможна.',
  'compose.no_channel': 'У клиента нет канала для ответа.',
  'card.label': 'Карточка клиента',
  'card.number': 'Клиент №{n}',
  'card.id': 'Номер клиента',
  'card.phone': 'Телефон',
  'card.email': 'Эл. почта',
  'card.since': 'Первый контакт',
  'card.identities': 'Каналы',
  'card.variables': 'Переменные',
  'card.tags': 'Теги',
  'card.lists': 'Списки',
  'card.folders': 'Папки',
  'card.tasks': 'Задачи',
  'card.funnel': 'Блок воронки',
  'card.none': '—',
  'action.assign': 'Ответственный',
  'action.unassigned': 'Никто',
  'action.close': 'Закрыть',
  'action.reopen': 'Открыть снова',
  'action.pin': 'Закрепить',
  'action.unpin': 'Открепить',
  'shortcuts.title': 'Клавиши',
  'shortcuts.next': 'Следующий диалог',
  'shortcuts.prev': 'Предыдущий диалог',
  'shortcuts.open': 'Открыть диалог',
  'shortcuts.reply': 'Написать ответ',
  'shortcuts.help': 'Этот список',
  'shortcuts.leave': 'Выйти из поля ответа / закрыть список',
  'shortcuts.close': 'Закрыть',
  'time.yesterday': 'вчера',
};

export const dictionaries: Record<Lang, Partial<Record<Key, string>>> = { en, ru };

/** The text of `key` in `lang`, `{name}` replaced from `vars`; English, then the key, when missing. */
export function translate(lang: Lang, key: Key, vars?: Record<string, string | number>): string {
  const text = dictionaries[lang][key] ?? en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}

/** The first of the browser's languages that the UI speaks, else English. */
export function detect(languages: readonly string[]): Lang {
  for (const tag of languages) {
    const base = tag.toLowerCase().split('-')[0];
    if (base === 'ru' || base === 'en') return base;
  }
  return 'en';
}

const STORED = 'sb.lang';

function initial(): Lang {
  if (typeof window === 'undefined') return 'en';
  const stored = window.localStorage.getItem(STORED);
  if (stored === 'en' || stored === 'ru') return stored;
  return detect(navigator.languages ?? [navigator.language]);
}

export const lang = signal<Lang>(initial());

export function setLang(next: Lang): void {
  lang.value = next;
  window.localStorage.setItem(STORED, next);
  document.documentElement.lang = next;
}

/** The text of `key` in the current language (reading the signal re-renders on a switch). */
export function t(key: Key, vars?: Record<string, string | number>): string {
  return translate(lang.value, key, vars);
}
