// A labelled input with the API's error for it beside it (`{"error":{"field"}}`).
import type { Signal } from '@preact/signals';

interface Props {
  id: string;
  label: string;
  type?: string;
  value: Signal<string>;
  error: string | null;
  autocomplete?: string;
  required?: boolean;
}

export function Field({ id, label, type = 'text', value, error, autocomplete, required = true }: Props) {
  const errorId = `${id}-error`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        name={id}
        type={type}
        value={value.value}
        onInput={(e) => {
          value.value = (e.currentTarget as HTMLInputElement).value;
        }}
        autocomplete={autocomplete}
        required={required}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? errorId : undefined}
      />
      {error && (
        <p class="field-error" id={errorId} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
