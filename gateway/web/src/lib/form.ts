// The logic of every definition form (admin screens, profile, the card's small forms), kept
// apart from the components so that it is unit-tested: which field an API error belongs to,
// what a form's typed values become in a request, and the few checks made before sending.

/** What a form shows after a refused submit: a message beside a field, or one for the form. */
export interface FormErrors {
  fields: Record<string, string>;
  form: string | null;
}

export const NO_ERRORS: FormErrors = { fields: {}, form: null };

/**
 * The form's field an API error's `field` names: the field itself, or the first part of a
 * path (`choices[2]`, `stages.0.name`, `admin.email` → `choices`, `stages`, `email` when the
 * form has that); `null` when the form has none of them (the error is shown for the form).
 */
export function fieldFor(path: string | null | undefined, fields: readonly string[]): string | null {
  if (!path) return null;
  if (fields.includes(path)) return path;
  const parts = path.split(/[.[\]]+/).filter(Boolean);
  for (const part of [parts[0], parts[parts.length - 1]]) {
    if (part !== undefined && fields.includes(part)) return part;
  }
  return null;
}

/** The errors to show for a refused submit: `message` beside the field it names, else the form's. */
export function errorsFor(field: string | null | undefined, message: string, fields: readonly string[]): FormErrors {
  const mine = fieldFor(field, fields);
  return mine ? { fields: { [mine]: message }, form: null } : { fields: {}, form: message };
}

/** A variable's allowed values typed one a line or comma-separated: trimmed, no empties, no repeats. */
export function parseChoices(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.split(/[\n,]/)) {
    const value = part.trim();
    if (value) seen.add(value);
  }
  return [...seen];
}

/** Minutes typed in a form as the API's seconds; `null` when not a whole non-negative number. */
export function minutesToSeconds(text: string): number | null {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return null;
  const seconds = Number(trimmed) * 60;
  return Number.isSafeInteger(seconds) && seconds <= 0xffffffff ? seconds : null;
}

/** Seconds as whole minutes for a form (rounded up, so a threshold is never shown earlier). */
export function secondsToMinutes(seconds: number): string {
  return String(Math.ceil(seconds / 60));
}

/** `#rrggbb`, as the API takes a tag's colour. */
export function isColor(text: string): boolean {
  return /^#[0-9a-fA-F]{6}$/.test(text);
}

/**
 * A pipeline's stages typed one a line, as the API takes them: a line naming a stage that
 * exists keeps its id (and the deals at it); a new line is a new stage.
 */
export function stagesOf(
  text: string,
  existing: readonly { id: string; name: string }[],
): { stage: string | null; name: string }[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((name) => ({ stage: existing.find((s) => s.name === name)?.id ?? null, name }));
}
