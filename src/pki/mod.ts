/**
 * The fleet PKI: the CA, device keys and CSRs, certificate facts, and the Signer port with its
 * file-CA and external-program implementations. Layer 1: imports errors.ts, config/mod.ts,
 * zod and @peculiar/x509; time comes in as `now`, programs run through the StdinRunner port.
 * @module
 */
export {
  type CertAndKey,
  type CertInfo,
  certInfo,
  createCa,
  type CreateCaOptions,
  type CsrInfo,
  fingerprintSha256,
  generateKeyAndCsr,
  inspectCsr,
  type KeyAndCsr,
  signWithKey,
  verifyIssuedBy,
  type VerifyOptions,
  verifyWithCert,
} from "./_ca.ts";
export {
  type CertUsage,
  checkCsr,
  fileCaSigner,
  issueServerCertificate,
  type ServerCertificate,
  type Signer,
  type SignRequest,
  type SignResult,
} from "./_signer.ts";
export {
  programSigner,
  type ProgramSignerOptions,
  type SignerProgramInput,
  type StdinRunner,
  type StdinRunRequest,
  type StdinRunResult,
} from "./_program.ts";
export type { PkiErrorCode } from "./_x509.ts";
