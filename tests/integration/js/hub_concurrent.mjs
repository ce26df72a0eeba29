// The npm @huggingface/hub client in the two-daemon test (92_postgres.sh);
// HF_TOKEN in the environment.  Prints "ok N" on success.
//
// node hub_concurrent.mjs upload MODULE HUB_URL REPO BASE LIST
//   createRepo (a 409 is fine: the other daemon's client made it first),
//   then one uploadFiles to main per paragraph of LIST (paths relative to
//   BASE, kept as the paths in the repo; a blank line between commits).
// node hub_concurrent.mjs verify MODULE HUB_URL REPO BASE LIST
//   listFiles is exactly LIST's paths; downloadFile of each has the SHA-256
//   of the file under BASE.
// node hub_concurrent.mjs race MODULE URL_A URL_B REPO BASE PATH_A PATH_B
//   PATH_A through URL_A and PATH_B through URL_B at once, both with
//   parentCommit = the head of main: exactly one lands, the other is
//   refused with 409; sent again with the new head, it lands.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [cmd, modDir, ...args] = process.argv.slice(2);
const hub = await import(pathToFileURL(join(modDir, "dist/index.mjs")).href);
const accessToken = process.env.HF_TOKEN;
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const model = (name) => ({ type: "model", name });
const file = (base, path) => ({ path, content: new Blob([readFileSync(join(base, path))]) });

function commits(list) { // paragraphs of paths
	return readFileSync(list, "utf8").split(/\n\s*\n/)
		.map((p) => p.split("\n").filter((l) => l !== ""))
		.filter((p) => p.length > 0);
}

async function upload(hubUrl, name, base, list) {
	const repo = model(name);
	try {
		await hub.createRepo({ repo, accessToken, hubUrl });
	} catch (e) {
		if (e.statusCode !== 409) throw e;
	}
	let n = 0;
	for (const paths of commits(list)) {
		const out = await hub.uploadFiles({
			repo, accessToken, hubUrl, files: paths.map((p) => file(base, p)),
			commitTitle: `${paths.length} files through ${hubUrl}`,
		});
		if (!out?.commit?.oid) throw new Error(`uploadFiles ${paths}: no commit`);
		n += paths.length;
	}
	return n;
}

async function verify(hubUrl, name, base, list) {
	const repo = model(name);
	const want = commits(list).flat().sort();
	const listed = [];
	for await (const f of hub.listFiles({ repo, recursive: true, accessToken, hubUrl }))
		if (f.type === "file") listed.push(f.path);
	listed.sort();
	if (JSON.stringify(listed) !== JSON.stringify(want))
		throw new Error(`listFiles ${name}: ${JSON.stringify(listed)} != ${JSON.stringify(want)}`);
	for (const path of want) {
		const blob = await hub.downloadFile({ repo, path, accessToken, hubUrl });
		if (!blob) throw new Error(`downloadFile ${name} ${path}: null`);
		const got = sha256(Buffer.from(await blob.arrayBuffer()));
		if (got !== sha256(readFileSync(join(base, path))))
			throw new Error(`downloadFile ${name} ${path}: SHA-256 ${got} differs`);
	}
	return want.length;
}

async function head(hubUrl, name) {
	const info = await hub.modelInfo({ name, revision: "main", accessToken, hubUrl, additionalFields: ["sha"] });
	if (!info.sha) throw new Error(`modelInfo ${name}: no sha`);
	return info.sha;
}

async function race(urlA, urlB, name, base, pathA, pathB) {
	const repo = model(name);
	const parent = await head(urlA, name);
	const send = (hubUrl, path, parentCommit) => hub.uploadFiles({
		repo, accessToken, hubUrl, files: [file(base, path)], parentCommit,
		commitTitle: `${path} on ${parentCommit}`,
	});
	const sent = [[urlA, pathA], [urlB, pathB]];
	const res = await Promise.allSettled(sent.map(([u, p]) => send(u, p, parent)));
	const won = res.findIndex((r) => r.status === "fulfilled");
	const lost = res.findIndex((r) => r.status === "rejected");
	if (won < 0 || lost < 0)
		throw new Error(`race on ${parent}: ${res.map((r) => r.status)}: ${res.map((r) => r.reason)}`);
	if (res[lost].reason.statusCode !== 409)
		throw new Error(`race: the loser's error is not a 409: ${res[lost].reason}`);
	const now = await head(sent[lost][0], name); // the loser's daemon sees the winner's commit
	if (now !== res[won].value.commit.oid)
		throw new Error(`race: head ${now}, not the winner's commit ${res[won].value.commit.oid}`);
	if (await hub.fileExists({ repo, path: sent[lost][1], accessToken, hubUrl: sent[lost][0] }))
		throw new Error(`race: the refused commit's ${sent[lost][1]} is in the branch`);
	const again = await send(sent[lost][0], sent[lost][1], now);
	if ((await head(sent[won][0], name)) !== again.commit.oid)
		throw new Error("race: the commit sent again is not the head");
	return 2;
}

const run = { upload, verify, race }[cmd];
if (!run) throw new Error(`unknown command ${cmd}`);
console.log(`ok ${await run(...args)}`);
