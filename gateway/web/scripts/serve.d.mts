// Types of serve.mjs for the TypeScript tests.
export interface Served {
  url: string;
  accounts: { email: string; role: string }[];
  data: string;
  pid: number;
  stop(): Promise<void>;
}
export function binary(profile?: 'debug' | 'release'): string;
export function startServe(options?: {
  demo?: boolean;
  env?: Record<string, string>;
  data?: string;
  profile?: 'debug' | 'release';
}): Promise<Served>;
