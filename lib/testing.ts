// `portclash/testing`: the seam to replace the native addon, for tests and odd installs; not the everyday API.
export {
  setBinding,
  type NativeBinding,
  type ProcNetReading,
  type ProcNetSource,
  type RowsCallback,
  type SockDiagQuery,
  type SockDiagReply,
  type SourceReading,
} from './binding.js';
export { packRows, type RawRow } from './rows.js';
