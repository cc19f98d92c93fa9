import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** Files of a throwaway PKI: a CA, a server and a client certificate it signed, and a CA nobody uses. */
export interface Pki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed nothing here: trusting it instead of caFile must fail the handshake. */
  strangerCaFile: string;
  /** A client certificate the stranger CA signed: the server must refuse it. */
  strangerCert: string;
  strangerKey: string;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function selfSignedCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    `/CN=eventstore test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

function signedLeaf(dir: string, name: string, ca: { cert: string; key: string }, extensions: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/CN=${name}`,
  ]);
  openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]);
  return { cert, key };
}

/** Generates the PKI in dir with openssl (EC P-256, valid two days). */
export function makePki(dir: string): Pki {
  const ca = selfSignedCa(dir, "ca");
  const stranger = selfSignedCa(dir, "stranger-ca");
  const server = signedLeaf(
    dir,
    "server",
    ca,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n",
  );
  const clientExtensions = "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n";
  const client = signedLeaf(dir, "eventstore-client", ca, clientExtensions);
  const strangerClient = signedLeaf(dir, "stranger-client", stranger, clientExtensions);
  return {
    caFile: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    strangerCaFile: stranger.cert,
    strangerCert: strangerClient.cert,
    strangerKey: strangerClient.key,
  };
}
