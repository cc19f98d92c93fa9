// npm start: brings dist/ up to date, then runs the service in this same process (a second node
// process would add a fifth of a second to every start).
import "./prepare.mjs";

await import("../dist/src/main.js");
