// What a message's actions in the timeline start: a quote-reply (the quoted message shown
// above the reply box, sent as `reply_to`) and a template made of it (the form opened
// prefilled). Both end when another dialog opens.

import { signal } from '@preact/signals';
import type { TimelineItem } from '../api/types';

/** The message the reply being written quotes. */
export const quoting = signal<TimelineItem | null>(null);
/** The message being saved as a template (its form is open). */
export const templateFrom = signal<TimelineItem | null>(null);
/** The name of the template just saved from a message (said once beside the reply box). */
export const templateSaved = signal<string | null>(null);

export function forgetMessageActions(): void {
  quoting.value = null;
  templateFrom.value = null;
  templateSaved.value = null;
}
