import { describe, expect, it } from 'vitest';
import { slaMark } from '../../src/lib/sla';

describe('F9 SLA mark', () => {
  const sla = { yellow_after_secs: 300, red_after_secs: 900 };
  const now = Date.parse('2026-12-07T12:00:00Z');
  const ago = (s: number) => new Date(now - s * 1000).toISOString();

  it('turns yellow, then red, as the client waits', () => {
    expect(slaMark(ago(10), sla, now)).toBeNull();
    expect(slaMark(ago(300), sla, now)).toBe('yellow');
    expect(slaMark(ago(899), sla, now)).toBe('yellow');
    expect(slaMark(ago(900), sla, now)).toBe('red');
  });

  it('marks nothing without thresholds, without a wait, or for a bad time', () => {
    expect(slaMark(ago(5000), null, now)).toBeNull();
    expect(slaMark(null, sla, now)).toBeNull();
    expect(slaMark('not a time', sla, now)).toBeNull();
  });
});
