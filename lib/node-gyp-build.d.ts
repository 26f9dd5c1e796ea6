// node-gyp-build ships no types; this is the part of its API lib/binding.ts uses.
declare module 'node-gyp-build' {
  interface NodeGypBuild {
    /** require()s the addon of the package at `dir`. */
    (dir: string): unknown;
    /** The path of that addon: build/Release, build/Debug, then the best prebuilds/ match; throws when none fits. */
    resolve(dir: string): string;
  }
  const load: NodeGypBuild;
  export default load;
}
