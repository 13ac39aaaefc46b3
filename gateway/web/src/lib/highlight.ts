// The parts of a search hit's text, each marked when it holds one of the query's words, for
// `<mark>` in the hit list (F2.1). Case-insensitive; the index's stemming may find words that
// are not marked, never the other way round.

export interface Part {
  text: string;
  hit: boolean;
}

function escape(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function highlightParts(text: string, query: string): Part[] {
  const words = query
    .split(/\s+/u)
    .map((w) => w.trim())
    .filter((w) => w.length > 0)
    .sort((a, b) => b.length - a.length);
  if (words.length === 0 || text === '') return text ? [{ text, hit: false }] : [];
  const pattern = new RegExp(`(${words.map(escape).join('|')})`, 'giu');
  return text
    .split(pattern)
    .filter((piece) => piece !== '')
    .map((piece) => ({ text: piece, hit: words.some((w) => w.toLowerCase() === piece.toLowerCase()) }));
}
