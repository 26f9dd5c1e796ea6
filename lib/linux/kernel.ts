// What the running kernel's version makes visible: features a reader cannot probe without side effects.
import { release } from 'node:os';

let boundSocketsVisible: boolean | undefined;

/** TCPF_BOUND_INACTIVE dumps exist from Linux 6.8; older kernels ignore the bit silently. */
export function kernelShowsBoundSockets(): boolean {
  if (boundSocketsVisible === undefined) {
    const [major = 0, minor = 0] = release().split(/[.-]/).map(Number);
    boundSocketsVisible = major > 6 || (major === 6 && minor >= 8);
  }
  return boundSocketsVisible;
}
