// The one form of every definition (admin screens, the profile, the card's small forms):
// labelled fields, the API's error beside the field it names (or above the buttons), and
// what was typed kept on an error or a dropped connection — only a success clears a form
// that asks for it.

import { useSignal } from '@preact/signals';
import type { ComponentChildren } from 'preact';
import { ApiFailure } from '../api/client';
import { t } from '../i18n';
import { NO_ERRORS, errorsFor, type FormErrors } from '../lib/form';

export type Value = string | boolean;
export type Values = Record<string, Value>;

export type FieldSpec = {
  name: string;
  label: string;
  hint?: string;
  required?: boolean;
  autocomplete?: string;
} & (
  | { kind: 'text' | 'email' | 'password' | 'number' | 'color' | 'textarea' | 'datetime-local' }
  | { kind: 'select'; options: readonly { value: string; label: string }[] }
  | { kind: 'checkbox' }
);

/** Thrown by a form's `submit` for a check made before sending: shown beside `field`. */
export class FieldProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The text of an error for people: the API's message, or what a dropped connection means. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiFailure) return error.code === 'network' ? t('error.network') : error.message;
  if (error instanceof Error) return error.message;
  return t('error.generic', { message: String(error) });
}

/** An action outside a form (a switch, a delete, a card's chip): its failure, to show under it. */
export function useAction() {
  const error = useSignal<string | null>(null);
  const run = async (work: () => Promise<unknown>) => {
    error.value = null;
    try {
      await work();
    } catch (e) {
      error.value = messageOf(e);
    }
  };
  const shown = error.value && (
    <p class="form-error" role="alert">
      {error.value}
    </p>
  );
  return { run, shown };
}

interface Props {
  /** Prefix of the fields' ids (unique on the page). */
  id: string;
  fields: readonly FieldSpec[];
  initial: Values;
  submitLabel: string;
  submit: (values: Values) => Promise<void>;
  /** Back to `initial` after a success (a form that creates things). */
  clearOnSuccess?: boolean;
  onCancel?: () => void;
  /** Focus the first field when shown (an editor opened in place of a row). */
  autoFocus?: boolean;
  /** An accessible name of the form. */
  label?: string;
  class?: string;
  children?: ComponentChildren;
}

function Control({ id, spec, value, invalid, describedBy, set, autoFocus }: {
  id: string;
  autoFocus?: boolean;
  spec: FieldSpec;
  value: Value;
  invalid: boolean;
  describedBy: string | undefined;
  set: (value: Value) => void;
}) {
  const common = {
    id,
    name: spec.name,
    'aria-invalid': invalid ? ('true' as const) : undefined,
    'aria-describedby': describedBy,
    required: spec.required,
    autoFocus,
  };
  const text = (e: Event) => set((e.currentTarget as HTMLInputElement).value);
  switch (spec.kind) {
    case 'checkbox':
      return (
        <input
          {...common}
          type="checkbox"
          checked={value === true}
          onChange={(e) => set((e.currentTarget as HTMLInputElement).checked)}
        />
      );
    case 'select':
      return (
        <select {...common} value={String(value)} onChange={text}>
          {spec.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      );
    case 'textarea':
      return <textarea {...common} rows={3} value={String(value)} onInput={text} />;
    default:
      return (
        <input
          {...common}
          type={spec.kind}
          value={String(value)}
          onInput={text}
          autocomplete={spec.autocomplete}
          min={spec.kind === 'number' ? 0 : undefined}
        />
      );
  }
}

export function DefinitionForm(props: Props) {
  const values = useSignal<Values>(props.initial);
  const errors = useSignal<FormErrors>(NO_ERRORS);
  const busy = useSignal(false);
  const names = props.fields.map((f) => f.name);
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (busy.value) return;
    busy.value = true;
    errors.value = NO_ERRORS;
    try {
      await props.submit(values.value);
      if (props.clearOnSuccess) values.value = props.initial;
    } catch (error) {
      const field = error instanceof FieldProblem || error instanceof ApiFailure ? error.field : null;
      errors.value = errorsFor(field, messageOf(error), names);
    } finally {
      busy.value = false;
    }
  };
  return (
    <form class={`def-form ${props.class ?? ''}`} onSubmit={onSubmit} aria-label={props.label} noValidate>
      {props.fields.map((spec, index) => {
        const id = `${props.id}-${spec.name}`;
        const error = errors.value.fields[spec.name];
        const errorId = `${id}-error`;
        const hintId = `${id}-hint`;
        const describedBy = [error ? errorId : '', spec.hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
        const control = (
          <Control
            id={id}
            spec={spec}
            value={values.value[spec.name] ?? ''}
            invalid={Boolean(error)}
            describedBy={describedBy}
            autoFocus={props.autoFocus === true && index === 0}
            set={(value) => (values.value = { ...values.value, [spec.name]: value })}
          />
        );
        return (
          <div key={spec.name} class={spec.kind === 'checkbox' ? 'field check' : 'field'}>
            {spec.kind === 'checkbox' ? (
              <label for={id}>
                {control} {spec.label}
              </label>
            ) : (
              <>
                <label for={id}>{spec.label}</label>
                {control}
              </>
            )}
            {error && (
              <p class="field-error" id={errorId} role="alert">
                {error}
              </p>
            )}
            {spec.hint && (
              <p class="hint" id={hintId}>
                {spec.hint}
              </p>
            )}
          </div>
        );
      })}
      {props.children}
      {errors.value.form && (
        <p class="form-error" role="alert">
          {errors.value.form}
        </p>
      )}
      <div class="form-buttons">
        <button type="submit" class="primary" disabled={busy.value}>
          {props.submitLabel}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            {t('form.cancel')}
          </button>
        )}
      </div>
    </form>
  );
}

/** A term of a `<dl>` and its value, left out when there is no value. */
export function Term({ label, value }: { label: string; value?: string | null }) {
  return value ? (
    <>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </>
  ) : null;
}
