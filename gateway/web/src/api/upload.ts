// `POST /v1/attachments`: one file streamed to the server with its progress (fetch tells none
// of an upload's), under the chosen channel's limit; the answer is what `send_message` takes.

import { ApiFailure, csrfToken } from './client';
import type { components } from './schema';

export type Uploaded = components['schemas']['Uploaded'];

export interface Upload {
  done: Promise<Uploaded>;
  abort: () => void;
}

export function upload(file: File, channel: string, progress: (share: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const query = new URLSearchParams({ file_name: file.name, channel });
  const done = new Promise<Uploaded>((resolve, reject) => {
    xhr.open('POST', `/v1/attachments?${query.toString()}`);
    xhr.withCredentials = true;
    const token = csrfToken();
    if (token) xhr.setRequestHeader('x-csrf-token', token);
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) progress(e.loaded / e.total);
    };
    xhr.onload = () => {
      const body = xhr.response as (Uploaded & { error?: never }) | { error?: { code?: string; message?: string; field?: string } } | null;
      if (xhr.status === 201 && body && !('error' in body && body.error)) {
        progress(1);
        resolve(body as Uploaded);
        return;
      }
      const error = body && 'error' in body ? body.error : undefined;
      reject(new ApiFailure(xhr.status, error?.code ?? 'http', error?.message ?? xhr.statusText, error?.field ?? null));
    };
    xhr.onerror = () => reject(new ApiFailure(0, 'network', 'network', null));
    xhr.onabort = () => reject(new ApiFailure(0, 'aborted', 'aborted', null));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}
