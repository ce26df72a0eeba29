// The npm @huggingface/hub client against a hubzip daemon: createRepo,
// uploadFiles of a directory, listFiles, downloadFile of every file,
// byte-exact, pathsInfo, snapshotDownload.  Usage: node hub_roundtrip.mjs MODULE_DIR HUB_URL REPO DIR
// (HF_TOKEN in the environment).  Prints "ok N" on success.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";

const [modDir, hubUrl, name, dir] = process.argv.slice(2);
const hub = await import(pathToFileURL(join(modDir, "dist/index.mjs")).href);
const accessToken = process.env.HF_TOKEN;
const repo = { type: "model", name };

function walk(d) {
	return readdirSync(d).flatMap((e) => {
		const p = join(d, e);
		return statSync(p).isDirectory() ? walk(p) : [p];
	});
}

const local = walk(dir).sort();
await hub.createRepo({ repo, accessToken, hubUrl });
await hub.uploadFiles({
	repo, accessToken, hubUrl,
	files: local.map((p) => ({ path: relative(dir, p), content: new Blob([readFileSync(p)]) })),
	commitTitle: "upload from @huggingface/hub",
});
const listed = [];
for await (const f of hub.listFiles({ repo, recursive: true, accessToken, hubUrl }))
	if (f.type === "file") listed.push(f.path);
listed.sort();
const want = local.map((p) => relative(dir, p));
if (JSON.stringify(listed) !== JSON.stringify(want))
	throw new Error(`listFiles: ${JSON.stringify(listed)} != ${JSON.stringify(want)}`);
for (const p of local) {
	const path = relative(dir, p);
	const blob = await hub.downloadFile({ repo, path, accessToken, hubUrl });
	if (!blob) throw new Error(`downloadFile ${path}: null`);
	const got = Buffer.from(await blob.arrayBuffer());
	if (!got.equals(readFileSync(p))) throw new Error(`downloadFile ${path}: bytes differ`);
	if (!(await hub.fileExists({ repo, path, accessToken, hubUrl })))
		throw new Error(`fileExists ${path}: false`);
}
const info = await hub.pathsInfo({ repo, paths: want, accessToken, hubUrl });
if (info.length !== want.length) throw new Error(`pathsInfo: ${info.length} of ${want.length}`);
for (const i of info) {
	const p = join(dir, i.path);
	if (i.size !== statSync(p).size) throw new Error(`pathsInfo ${i.path}: size ${i.size}`);
}
// snapshotDownload into a cache directory of our own
const snap = await hub.snapshotDownload({ repo, accessToken, hubUrl, cacheDir: process.env.HF_CACHE_DIR });
for (const p of local) {
	const got = readFileSync(join(snap, relative(dir, p)));
	if (!got.equals(readFileSync(p))) throw new Error(`snapshotDownload ${p}: bytes differ`);
}
console.log(`ok ${local.length}`);
