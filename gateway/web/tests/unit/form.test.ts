import { describe, expect, it } from 'vitest';
import {
  errorsFor,
  fieldFor,
  isColor,
  minutesToSeconds,
  parseChoices,
  secondsToMinutes,
  stagesOf,
} from '../../src/lib/form';

describe('the field an API error names', () => {
  const fields = ['name', 'email', 'choices', 'yellow_after_secs'];
  it('is the field itself when the form has it', () => {
    expect(fieldFor('email', fields)).toBe('email');
    expect(fieldFor('yellow_after_secs', fields)).toBe('yellow_after_secs');
  });
  it('is the first or last part of a path', () => {
    expect(fieldFor('choices[2]', fields)).toBe('choices');
    expect(fieldFor('admin.email', fields)).toBe('email');
  });
  it('is none for a field the form lacks, or no field', () => {
    expect(fieldFor('color', fields)).toBeNull();
    expect(fieldFor(null, fields)).toBeNull();
    expect(fieldFor('', fields)).toBeNull();
  });
  it('puts the message beside the field, else on the form', () => {
    expect(errorsFor('name', 'too long', fields)).toEqual({ fields: { name: 'too long' }, form: null });
    expect(errorsFor('operator', 'unknown', fields)).toEqual({ fields: {}, form: 'unknown' });
    expect(errorsFor(undefined, 'offline', fields)).toEqual({ fields: {}, form: 'offline' });
  });
});

describe('what a form sends', () => {
  it('reads choices one a line or comma-separated, trimmed, without empties or repeats', () => {
    expect(parseChoices(' new\nwon, lost\n\nwon ,')).toEqual(['new', 'won', 'lost']);
    expect(parseChoices('   ')).toEqual([]);
  });
  it('takes whole minutes as seconds and nothing else', () => {
    expect(minutesToSeconds(' 15 ')).toBe(900);
    expect(minutesToSeconds('0')).toBe(0);
    expect(minutesToSeconds('1.5')).toBeNull();
    expect(minutesToSeconds('-3')).toBeNull();
    expect(minutesToSeconds('')).toBeNull();
    expect(minutesToSeconds('99999999999')).toBeNull();
  });
  it('shows seconds as minutes rounded up', () => {
    expect(secondsToMinutes(900)).toBe('15');
    expect(secondsToMinutes(61)).toBe('2');
  });
  it('takes a colour as #rrggbb only', () => {
    expect(isColor('#1f5fc7')).toBe(true);
    expect(isColor('#FFF')).toBe(false);
    expect(isColor('red')).toBe(false);
  });
});

describe("a pipeline's stages", () => {
  it('keep the ids of the stages named as before, in the order typed, new ones without', () => {
    const existing = [
      { id: 's1', name: 'New' },
      { id: 's2', name: 'Won' },
    ];
    expect(stagesOf('Won\n  Quoted \n\nNew', existing)).toEqual([
      { stage: 's2', name: 'Won' },
      { stage: null, name: 'Quoted' },
      { stage: 's1', name: 'New' },
    ]);
    expect(stagesOf('  ', existing)).toEqual([]);
  });
});
