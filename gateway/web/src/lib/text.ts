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
