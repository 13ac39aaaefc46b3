// F9: a waiting client's mark — yellow past the project's first threshold, red past the second;
// none when the project sets no thresholds or nobody waits.

export type SlaMark = 'yellow' | 'red' | null;

export interface Thresholds {
  yellow_after_secs: number;
  red_after_secs: number;
}

export function slaMark(waitingSince: string | null | undefined, sla: Thresholds | null | undefined, now: number): SlaMark {
  if (!waitingSince || !sla) return null;
  const waited = (now - Date.parse(waitingSince)) / 1000;
  if (!(waited >= 0)) return null;
  if (waited >= sla.red_after_secs) return 'red';
  if (waited >= sla.yellow_after_secs) return 'yellow';
  return null;
}
