// Runs @20minutes/s3rver (a fake S3 that checks SigV4 signatures) on
// 127.0.0.1 at a port the kernel picks, for the S3 blob backend's tests.
//
//   node s3rver.mjs MODULE_DIR DATA_DIR BUCKET LOG_FILE
//
// Prints "s3rver listening on http://127.0.0.1:PORT" once ready.  Every
// request is logged to LOG_FILE as "METHOD PATH?QUERY RANGE" (one line,
// before it is served), so tests count what hubzip asked for.  While the
// file DATA_DIR/.fail holds a number N, the next N requests answer 503
// SlowDown without reaching s3rver (a store under load), to test retries.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const [modDir, dir, bucket, logFile] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const S3rver = require(modDir);
const s3 = new S3rver({
	address: '127.0.0.1',
	port: 0,
	directory: dir,
	silent: true,
	configureBuckets: bucket ? [{ name: bucket }] : [],
});
await s3.configureBuckets();
const handle = s3.callback();
const failFile = `${dir}/.fail`;

const server = createServer((req, res) => {
	appendFileSync(logFile, `${req.method} ${req.url} ${req.headers.range || '-'}\n`);
	if (existsSync(failFile)) {
		const n = Number(readFileSync(failFile, 'utf8'));
		if (n > 0) {
			writeFileSync(failFile, String(n - 1));
			req.resume();
			req.on('end', () => {
				res.statusCode = 503;
				res.setHeader('Content-Type', 'application/xml');
				res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>' +
					'<Message>Please reduce your request rate.</Message></Error>');
			});
			return;
		}
	}
	handle(req, res);
});
server.listen(0, '127.0.0.1', () => {
	console.log(`s3rver listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
