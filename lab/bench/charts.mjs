// Renders vega-lite specs to SVG, headless: stdin {name: spec}, stdout {name: svg}.
// A separate ES module because vega 6 is ESM with top-level await, which CommonJS cannot require().
import process from "node:process";
import * as vega from "vega";
import * as vegaLite from "vega-lite";

let input = "";
for await (const chunk of process.stdin) {
    input += chunk;
}
const out = {};
for (const [name, spec] of Object.entries(JSON.parse(input))) {
    out[name] = await new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" }).toSVG();
}
process.stdout.write(JSON.stringify(out));
