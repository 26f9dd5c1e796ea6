// Win32 error codes by name, as the IP Helper, process, service and registry calls return them (winerror.h).
import type { Win32ErrorCode } from '../errors.js';

// The codes these calls are documented or seen to return; any other is named by its number.
const NAMES: ReadonlyMap<number, Win32ErrorCode> = new Map([
  [2, 'ERROR_FILE_NOT_FOUND'],
  [5, 'ERROR_ACCESS_DENIED'],
  [6, 'ERROR_INVALID_HANDLE'],
  [8, 'ERROR_NOT_ENOUGH_MEMORY'],
  [13, 'ERROR_INVALID_DATA'],
  [31, 'ERROR_GEN_FAILURE'],
  [50, 'ERROR_NOT_SUPPORTED'],
  [87, 'ERROR_INVALID_PARAMETER'],
  [122, 'ERROR_INSUFFICIENT_BUFFER'],
  [234, 'ERROR_MORE_DATA'],
  [299, 'ERROR_PARTIAL_COPY'],
  [1009, 'ERROR_BADDB'],
  [1015, 'ERROR_REGISTRY_CORRUPT'],
  [1018, 'ERROR_KEY_DELETED'],
  [1060, 'ERROR_SERVICE_DOES_NOT_EXIST'],
  [1113, 'ERROR_NO_UNICODE_TRANSLATION'],
  [1332, 'ERROR_NONE_MAPPED'],
]);

/** `ERROR_ACCESS_DENIED` for 5; `ERROR_1234` for a code without a name here. */
export function win32ErrorName(code: number): Win32ErrorCode {
  return NAMES.get(code) ?? (`ERROR_${code}` as Win32ErrorCode);
}
