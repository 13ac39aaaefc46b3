// F3.4: a message holds at most 2000 characters not counting whitespace.

export const MAX_MESSAGE_CHARS = 2000;

/** Characters that count towards F3.4's limit: every code point but whitespace. */
export function countedChars(text: string): number {
  let n = 0;
  for (const ch of text) if (!/\s/u.test(ch)) n += 1;
  return n;
}

/** A person's initials for an avatar placeholder: up to two letters. */
export function initials(name: string | null | undefined): string {
  const words = (name ?? '').trim().split(/[\s@._-]+/u).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0]?.toUpperCase() ?? '');
  return letters.join('') || '?';
}

/** Emoji offered beside the reply box (F3.4): the ones support conversations use most. */
export const EMOJI = ['🙂', '😊', '👍', '🙏', '👌', '🎉', '❤️', '😔', '🤔', '✅', '📦', '⏳'];

/**
 * `text` with `snippet` put where the selection `[start, end)` was (a template or an emoji at
 * the caret, replacing a selection), and where the caret goes after it. A template put into
 * text that does not end in whitespace is set apart by a space.
 */
export function insertAt(
  text: string,
  start: number,
  end: number,
  snippet: string,
  spaced = false,
): { text: string; caret: number } {
  const from = Math.max(0, Math.min(start, text.length));
  const to = Math.max(from, Math.min(end, text.length));
  const before = text.slice(0, from);
  const gap = spaced && before && !/\s$/u.test(before) ? ' ' : '';
  const put = gap + snippet;
  return { text: before + put + text.slice(to), caret: from + put.length };
}

/**
 * The start of `text` on one line, at most `max` characters (code points) with `…` when cut,
 * at a word's end when there is one in the second half: a quote's preview, a template's name.
 */
export function snippet(text: string, max: number): string {
  const line = text.replace(/\s+/gu, ' ').trim();
  const chars = [...line];
  if (chars.length <= max) return line;
  const cut = chars.slice(0, max - 1).join('');
  const space = cut.lastIndexOf(' ');
  return `${(space > cut.length / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
