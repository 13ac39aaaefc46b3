// One timeline item as the conversation shows it — a message with its author, channel, time
// and delivery (a failed one with its reason and, live, a button that sends it again: F3.6),
// a comment, or a service entry in words — live or as of a past moment.

import type { TimelineItem } from '../api/types';
import { lang, t, type Key } from '../i18n';
import { formatBytes } from '../lib/attachments';
import { describe, shortId } from '../lib/serviceEntry';
import { snippet } from '../lib/text';
import { act, channelOf, highlight, me, openDialog, operatorName, refreshTimeline, timeline } from '../state';
import { useAction } from './Form';
import { fullTime, shortTime } from './format';
import { TranslateMessage } from './LanguageTools';
import { quoting, templateFrom } from './messageActions';
import { projectNames } from './names';

/** A file as a message carries it (`schemas::Attachment`). */
interface FileOf {
  kind?: string;
  file_name?: string;
  mime_type?: string;
  size_bytes?: number;
  storage_ref?: string;
}

/** A message's files: ours (`sha256:`) open from the dialog, an image shown small; others named. */
function Files({ files }: { files: readonly FileOf[] }) {
  const dialog = openDialog.value;
  return (
    <ul class="files" aria-label={t('timeline.files', { n: files.length })}>
      {files.map((file, index) => {
        const name = file.file_name ?? '';
        const size = typeof file.size_bytes === 'number' ? formatBytes(file.size_bytes, lang.value) : '';
        const ours = dialog && file.storage_ref?.startsWith('sha256:');
        const href = ours ? `/v1/dialogs/${dialog}/attachments/${file.storage_ref?.slice('sha256:'.length)}` : null;
        return (
          <li key={`${file.storage_ref ?? ''}-${index}`} class={`file ${file.kind ?? 'file'}`}>
            {href && file.kind === 'image' ? (
              <a href={href} target="_blank" rel="noopener">
                <img src={href} alt={name} loading="lazy" />
              </a>
            ) : href ? (
              <a href={href} download={name}>
                {name}
              </a>
            ) : (
              <span>{name}</span>
            )}{' '}
            <span class="size">{size}</span>
          </li>
        );
      })}
    </ul>
  );
}

/** The message an entry answers, as the loaded timeline has it. */
function Quote({ id }: { id: string }) {
  const quoted = timeline.value.find((i) => i.id === id);
  const text = quoted ? snippet(quoted.text, 120) || t('timeline.files', { n: quoted.files.length }) : t('timeline.quoted_unknown');
  return (
    <blockquote class="quote">
      {quoted && <span class="who">{who(quoted)}</span>} {text}
    </blockquote>
  );
}

/** A message's actions: reply quoting it, save it as a template. */
function Actions({ item }: { item: TimelineItem }) {
  return (
    <div class="entry-actions" role="group" aria-label={t('message.actions')}>
      <button
        type="button"
        onClick={() => {
          quoting.value = item;
          document.getElementById('compose-text')?.focus();
        }}
      >
        {t('message.reply')}
      </button>
      {item.text.trim() && (
        <button type="button" onClick={() => (templateFrom.value = item)}>
          {t('message.to_template')}
        </button>
      )}
    </div>
  );
}

/** Who wrote an item, in words. */
export function who(item: TimelineItem): string {
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

/** F3.6: sends a failed outbound message again through its channel; the refusal under it. */
function Resend({ item }: { item: TimelineItem }) {
  const { run, shown } = useAction();
  const dialog = openDialog.value;
  if (!dialog) return null;
  return (
    <>
      <button
        class="link resend"
        onClick={() =>
          void run(async () => {
            const seq = await act(dialog, { action: 'resend_message', message: item.id });
            // Its statuses come back by the live stream (a row event marked `timeline`).
            await refreshTimeline(dialog, seq);
          })
        }
      >
        {t('timeline.resend')}
      </button>
      {shown}
    </>
  );
}

/** One timeline item (the conversation's, or the history's past ones); `live`: the
 * conversation's, with a message's actions and a failed message's resend. */
export function Entry({ item, live = false }: { item: TimelineItem; live?: boolean }) {
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
          {live && item.kind === 'message' && <Actions item={item} />}
        </div>
        {item.reply_to && <Quote id={item.reply_to} />}
        {item.text && <p class="text">{item.text}</p>}
        {live && openDialog.value && <TranslateMessage dialog={openDialog.value} item={item} />}
        {item.files.length > 0 && <Files files={item.files as FileOf[]} />}
        {item.delivery && (
          <p class={`delivery ${item.delivery}`}>
            {item.delivery === 'failed' && item.failure
              ? t('timeline.failed', { reason: item.failure })
              : t(`delivery.${item.delivery}` as 'delivery.sent')}
            {live && item.delivery === 'failed' && item.direction === 'outbound' && (
              <>
                {' '}
                <Resend item={item} />
              </>
            )}
          </p>
        )}
      </div>
    </li>
  );
}

