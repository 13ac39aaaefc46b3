// The reply's files (F3.4): offered by the attach button, a drop or a paste; each checked
// against the chosen channel's limits before a byte goes (`lib/attachments`), refused ones
// named beside the reply box with why; taken ones uploaded at once, shown as chips with their
// name, size and progress, removable. Another channel checks them again.

import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { ApiFailure } from '../api/client';
import { upload, type Uploaded } from '../api/upload';
import { lang, t, type Key } from '../i18n';
import { admit, formatBytes, recheck, type FileFacts, type Limits, type Refusal } from '../lib/attachments';
import { channelOf } from '../state';

export interface Chip {
  key: number;
  file: File;
  /** 0 to 1. */
  progress: number;
  uploaded: Uploaded | null;
  failed: string | null;
  abort: () => void;
}

let nextKey = 1;

function facts(chip: Chip): FileFacts {
  // Once uploaded, the type the server sniffed from the bytes.
  return {
    name: chip.file.name,
    size: chip.uploaded?.size_bytes ?? chip.file.size,
    type: chip.uploaded?.mime_type ?? chip.file.type,
  };
}

/** Why a file is refused, in words. */
export function refusalText(name: string, size: number, why: Refusal, channel: string): string {
  const sizeText = formatBytes(size, lang.value);
  switch (why.code) {
    case 'size':
      return t('attach.size', {
        name,
        size: sizeText,
        max: formatBytes(why.max, lang.value),
        channel,
        kind: t(`attach.kind.${why.kind}` as Key),
      });
    case 'type':
      return t('attach.type', { name, channel, kind: t(`attach.kind.${why.kind}` as Key), types: why.types.join(', ') });
    case 'images':
      return t('attach.images', { name, max: why.max });
    case 'alone':
      return t('attach.alone', { name });
    case 'total':
      return t('attach.total', { name, max: formatBytes(why.max, lang.value) });
  }
}

/** The reply's files for the chosen channel; `null` limits: no channel to send through. */
export function useFiles(channel: string) {
  const chips = useSignal<Chip[]>([]);
  const refused = useSignal<string[]>([]);
  const limits = (channelOf(channel)?.limits ?? null) as Limits | null;
  const channelName = channelOf(channel)?.name ?? '';
  const problems = limits ? recheck(chips.value.map(facts), limits) : chips.value.map(() => null);
  // Uploads still going when the box goes (another dialog) are stopped.
  const live = useRef(chips.value);
  live.current = chips.value;
  useEffect(() => () => live.current.forEach((c) => c.uploaded || c.abort()), []);

  const update = (key: number, change: Partial<Chip>) => {
    chips.value = chips.value.map((c) => (c.key === key ? { ...c, ...change } : c));
  };

  const offer = (files: readonly File[]) => {
    if (!limits || files.length === 0) return;
    const result = admit(chips.value.map(facts), files, limits);
    refused.value = result.refused.map(({ file, why }) => refusalText(file.name, file.size, why, channelName));
    const added = result.taken.map((file) => {
      const key = nextKey++;
      const sending = upload(file, channel, (share) => update(key, { progress: share }));
      sending.done.then(
        (uploaded) => update(key, { uploaded, progress: 1 }),
        (error: unknown) => {
          if (error instanceof ApiFailure && error.code === 'aborted') return;
          const message = error instanceof ApiFailure ? (error.code === 'network' ? t('error.network') : error.message) : String(error);
          update(key, { failed: message });
        },
      );
      return { key, file, progress: 0, uploaded: null, failed: null, abort: sending.abort };
    });
    chips.value = [...chips.value, ...added];
  };

  const remove = (key: number) => {
    chips.value.find((c) => c.key === key)?.abort();
    chips.value = chips.value.filter((c) => c.key !== key);
  };

  const clear = () => {
    chips.value = [];
    refused.value = [];
  };

  /** Every file uploaded and taken by the channel: what `send_message` carries. */
  const ready = chips.value.every((c, i) => c.uploaded && !problems[i]);
  const attachments = chips.value.flatMap((c) => (c.uploaded ? [c.uploaded] : []));
  // What another channel refuses of the files already there, said beside the box too.
  const rechecked = chips.value.flatMap((c, i) => {
    const why = problems[i];
    return why ? [refusalText(c.file.name, facts(c).size, why, channelName)] : [];
  });
  return { chips, problems, refused, rechecked, offer, remove, clear, ready, attachments, enabled: limits !== null };
}

export type Files = ReturnType<typeof useFiles>;

/** The chips of the reply's files. */
export function FileChips({ files }: { files: Files }) {
  if (files.chips.value.length === 0) return null;
  return (
    <ul class="compose-files" aria-label={t('compose.files')}>
      {files.chips.value.map((chip, index) => {
        const problem = files.problems[index];
        const state = chip.failed
          ? t('compose.upload_failed', { reason: chip.failed })
          : chip.uploaded
            ? t('compose.uploaded')
            : t('compose.uploading', { percent: Math.round(chip.progress * 100) });
        return (
          <li key={chip.key} class={problem || chip.failed ? 'chip refused' : 'chip'} data-file={chip.file.name}>
            <span class="chip-name">{chip.file.name}</span>
            <span class="chip-size">{formatBytes(chip.uploaded?.size_bytes ?? chip.file.size, lang.value)}</span>
            {!chip.uploaded && !chip.failed ? (
              <progress max={1} value={chip.progress} aria-label={`${chip.file.name}: ${state}`} />
            ) : (
              <span class="chip-state">{problem ? t('compose.refused') : state}</span>
            )}
            <button
              type="button"
              class="chip-remove"
              aria-label={t('compose.remove_file', { name: chip.file.name })}
              onClick={() => files.remove(chip.key)}
            >
              ×
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** The attach button (and the hidden picker it opens). */
export function AttachButton({ files, disabled }: { files: Files; disabled: boolean }) {
  const picker = useRef<HTMLInputElement>(null);
  return (
    <>
      <button
        type="button"
        class="compose-attach"
        disabled={disabled || !files.enabled}
        onClick={() => picker.current?.click()}
      >
        <span aria-hidden="true">📎</span>
        <span class="visually-hidden">{t('compose.attach')}</span>
      </button>
      <input
        ref={picker}
        id="compose-files"
        type="file"
        multiple
        hidden
        tabIndex={-1}
        onChange={(e) => {
          const input = e.currentTarget as HTMLInputElement;
          files.offer([...(input.files ?? [])]);
          input.value = '';
        }}
      />
    </>
  );
}
