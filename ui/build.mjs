// Vendors the front-end libraries into the Python package: copies the minified builds (and licences)
// from node_modules into api/ui/static/vendor/ and writes versions.json. Run `npm ci && npm run build`
// after changing a version in package.json; the copied files are committed, so the pages work offline
// and Python users need no npm.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "api", "ui", "static", "vendor");
const libs = [
  { pkg: "cytoscape", file: "dist/cytoscape.min.js", as: "cytoscape.min.js" },
  { pkg: "chart.js", file: "dist/chart.umd.min.js", as: "chart.umd.min.js" },
];

mkdirSync(out, { recursive: true });
const manifest = {};
for (const lib of libs) {
  const root = join(here, "node_modules", lib.pkg);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  copyFileSync(join(root, lib.file), join(out, lib.as));
  const licence = ["LICENSE", "LICENSE.md", "LICENSE.txt"].map((f) => join(root, f)).find(existsSync);
  if (licence) copyFileSync(licence, join(out, `${lib.as.split(".")[0]}.LICENSE.txt`));
  const sha256 = createHash("sha256").update(readFileSync(join(out, lib.as))).digest("hex");
  manifest[lib.pkg] = { version: meta.version, license: meta.license, file: lib.as, sha256 };
  console.log(`${lib.pkg} ${meta.version} -> api/ui/static/vendor/${lib.as}`);
}
writeFileSync(join(out, "versions.json"), JSON.stringify(manifest, null, 2) + "\n");
