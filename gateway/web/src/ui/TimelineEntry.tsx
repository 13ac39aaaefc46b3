// One timeline item as the conversation shows it — a message with its author, channel, time
// and delivery, a comment, or a service entry in words — live or as of a past moment.

import type { TimelineItem } from '../api/types';
import { t, type Key } from '../i18n';
import { describe, shortId } from '../lib/serviceEntry';
import { channelOf, highlight, me, openDialog, operatorName } from '../state';
import { fullTime, shortTime } from './format';
import { TranslateMessage } from './LanguageTools';
import { projectNames } from './names';

function who(item: TimelineItem): string {
  if (item.author === 'client') return t('author.client');
  if (item.author === 'bot') return t('author.bot');
  if (item.author === 'system' || item.author === 'connector') return '';
  if (item.author === me.value?.operator) return t('author.you');
  return operatorName(item.author) ?? shortId(item.author);
}

function serviceText(item: TimelineItem): string {
  const described = describe(item.entry, projectNames(), item.author);
  return t(described.key as Key, described.vars);
}

/** One timeline item (the conversation's, or the history's past ones). */
export function Entry({ item }: { item: TimelineItem }) {
  const channel = channelOf(item.channel);
  if (item.kind === 'service') {
    const author = who(item);
    return (
      <li class="entry service">
        <span>{author ? t('service.entry', { who: author, what: serviceText(item) }) : serviceText(item)}</span>{' '}
        <time dateTime={item.at}>{shortTime(item.at)}</time>
      </li>
    );
  }
  const classes = ['entry', item.kind, item.direction ?? ''];
  const hit = highlight.value?.item === item.id && highlight.value.dialog === openDialog.value;
  if (hit) classes.push('hit');
  return (
    <li class={classes.join(' ')} data-id={item.id} aria-current={hit ? 'true' : undefined}>
      <div class="bubble">
        <div class="meta">
          <span class="who">{item.kind === 'note' ? `${t('timeline.note')} · ${who(item)}` : who(item)}</span>
          {channel && <span class="via">{channel.name}</span>}
          <time dateTime={item.at} title={fullTime(item.at)}>
            {shortTime(item.at)}
          </time>
        </div>
        {item.text && <p class="text">{item.text}</p>}
        {openDialog.value && <TranslateMessage dialog={openDialog.value} item={item} />}
        {item.files.length > 0 && <p class="files">{t('timeline.files', { n: item.files.length })}</p>}
        {item.delivery && (
          <p class={`delivery ${item.delivery}`}>
            {item.delivery === 'failed' && item.failure
              ? t('timeline.failed', { reason: item.failure })
              : t(`delivery.${item.delivery}` as 'delivery.sent')}
          </p>
        )}
      </div>
    </li>
  );
}

