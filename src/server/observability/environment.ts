/**
 * Something configures OpenTelemetry in this environment (an OTEL_ variable), and does not turn
 * it off. Free of imports, so that a process without it loads nothing of OpenTelemetry.
 */
export function tracingConfigured(env: NodeJS.ProcessEnv): boolean {
  const configured = Object.entries(env).some(([name, value]) => name.startsWith("OTEL_") && value);
  return configured && env.OTEL_SDK_DISABLED?.toLowerCase() !== "true" && env.OTEL_TRACES_EXPORTER?.toLowerCase() !== "none";
}
