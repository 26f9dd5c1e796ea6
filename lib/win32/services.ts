// Where Windows keeps the services database: the same format as /etc/services, under %SystemRoot%.
import { win32 } from 'node:path';

/** `C:\Windows\System32\drivers\etc\services`, wherever SystemRoot points. */
export function windowsServicesPath(): string {
  return win32.join(process.env.SystemRoot ?? 'C:\\Windows', 'System32', 'drivers', 'etc', 'services');
}
