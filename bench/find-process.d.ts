// find-process 2.1.1's ESM types import './find' without an extension, which NodeNext cannot resolve,
// so its default export has no type; this is the part of its API the bench calls.
declare module 'find-process' {
  export default function find(
    by: 'port' | 'pid' | 'name',
    value: string | RegExp | number,
    options?: boolean | { logLevel?: 'error' | 'warn' | 'info' | 'debug'; strict?: boolean; verbose?: boolean },
  ): Promise<{ pid: number; ppid: number; uid?: number; gid?: number; name: string; bin?: string; cmd: string }[]>;
}
