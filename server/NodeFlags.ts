// The Node.js flags `portico serve` runs with. Every launcher passes them: `npm start` (package.json),
// the Docker image, and the tests and benches that start the server (a unit test checks package.json).
//
// --max-semi-space-size=16: V8's young generation. Node 24 grows each semi-space with allocation up
// to 64 MiB on a machine with memory to spare (Node 20 stopped at 16): the server's RSS then rose
// 62 MiB over 5 000 logins with its heap flat (the soak), and a flood of cheap requests could add
// 100 MiB of nothing but young-generation space. 16 MiB keeps memory what the work needs; the data
// plane allocates little per packet, so the extra scavenges cost nothing measurable.
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
