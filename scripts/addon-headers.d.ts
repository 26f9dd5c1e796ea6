// node-api-headers and node-addon-api ship no types; this is the part of their API scripts/build-win32.mjs reads.
declare module 'node-api-headers' {
  /** Node-API's C headers (node_api.h, js_native_api.h). */
  export const include_dir: string;
  /** The .def files listing the Node-API symbols node.exe exports, for import libraries. */
  export const def_paths: { js_native_api_def: string; node_api_def: string };
}

declare module 'node-addon-api' {
  /** napi.h's directory, relative to the working directory. */
  export const include_dir: string;
}
