// F3.4 in the browser: which files the chosen channel takes, decided before a byte is uploaded
// (the server decides again from the bytes). The limits are the channel's, as `/v1/project`
// answers them: a size and the media types per kind of file, up to `max_images` images or one
// file of another kind, and `total_bytes` together.

export type FileKind = 'image' | 'audio' | 'video' | 'file';

export interface KindLimit {
  max_bytes: number;
  /** Media types taken; empty: any. */
  types: readonly string[];
}

export interface Limits {
  image: KindLimit;
  audio: KindLimit;
  video: KindLimit;
  file: KindLimit;
  max_images: number;
  total_bytes: number;
}

/** What the check needs of a file (a `File` has it). */
export interface FileFacts {
  name: string;
  size: number;
  type: string;
}

/** Why a file is refused. */
export type Refusal =
  | { code: 'size'; kind: FileKind; max: number }
  | { code: 'type'; kind: FileKind; types: readonly string[] }
  | { code: 'images'; max: number }
  | { code: 'alone' }
  | { code: 'total'; max: number };

/** A media type without its parameters, lower-cased (`audio/ogg; codecs=opus` → `audio/ogg`). */
export function bareType(type: string): string {
  return (type.split(';')[0] ?? '').trim().toLowerCase();
}

/** The kind a file of `type` is, as the server sorts them. */
export function kindOf(type: string): FileKind {
  const major = bareType(type).split('/')[0];
  return major === 'image' || major === 'audio' || major === 'video' ? major : 'file';
}

/** Why one file alone is refused, or `null`. */
export function refusalOf(file: FileFacts, limits: Limits): Refusal | null {
  const kind = kindOf(file.type);
  const limit = limits[kind];
  if (limit.types.length > 0 && !limit.types.includes(bareType(file.type))) {
    return { code: 'type', kind, types: limit.types };
  }
  if (file.size > limit.max_bytes) return { code: 'size', kind, max: limit.max_bytes };
  return null;
}

/** Why `files` together are refused (beyond each one's own), or `null`. */
export function setRefusal(files: readonly FileFacts[], limits: Limits): Refusal | null {
  const images = files.filter((f) => kindOf(f.type) === 'image').length;
  if (files.length > 1 && images < files.length) return { code: 'alone' };
  if (images > limits.max_images) return { code: 'images', max: limits.max_images };
  const total = files.reduce((sum, f) => sum + f.size, 0);
  if (total > limits.total_bytes) return { code: 'total', max: limits.total_bytes };
  return null;
}

/**
 * The files already taken and new ones offered, in order: each new one is taken if it passes
 * alone and with those taken before it, else refused with why.
 */
export function admit<T extends FileFacts>(
  taken: readonly FileFacts[],
  offered: readonly T[],
  limits: Limits,
): { taken: T[]; refused: { file: T; why: Refusal }[] } {
  const now: FileFacts[] = [...taken];
  const result: { taken: T[]; refused: { file: T; why: Refusal }[] } = { taken: [], refused: [] };
  for (const file of offered) {
    const why = refusalOf(file, limits) ?? setRefusal([...now, file], limits);
    if (why) {
      result.refused.push({ file, why });
    } else {
      now.push(file);
      result.taken.push(file);
    }
  }
  return result;
}

/**
 * The files already taken checked again (another channel was chosen): each one's refusal, or
 * `null`; a file that breaks the set's rule with those before it is refused for that.
 */
export function recheck(files: readonly FileFacts[], limits: Limits): (Refusal | null)[] {
  const passed: FileFacts[] = [];
  return files.map((file) => {
    const why = refusalOf(file, limits) ?? setRefusal([...passed, file], limits);
    if (!why) passed.push(file);
    return why;
  });
}

/** A size for people: bytes, KB, MB or GB (1024-based, as the limits are), in `lang`. */
export function formatBytes(bytes: number, lang: 'en' | 'ru'): string {
  const units = lang === 'ru' ? ['Б', 'КБ', 'МБ', 'ГБ'] : ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 || value >= 10 || Number.isInteger(value) ? Math.round(value) : Math.round(value * 10) / 10;
  const number = lang === 'ru' ? String(shown).replace('.', ',') : String(shown);
  return `${number} ${units[unit]}`;
}
