/** Types of `parse-prometheus-text-format` (the package ships none): what the conventions check reads. */
declare module "parse-prometheus-text-format" {
  export interface ParsedSample {
    readonly labels?: Readonly<Record<string, string>>
    readonly value?: string
    readonly buckets?: Readonly<Record<string, string>>
    readonly quantiles?: Readonly<Record<string, string>>
    readonly count?: string
    readonly sum?: string
  }
  export interface ParsedFamily {
    readonly name: string
    readonly help: string
    readonly type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED"
    readonly metrics: ReadonlyArray<ParsedSample>
  }
  /** Parses the Prometheus text format; throws `InvalidLineError` on a line it cannot read. */
  export default function parsePrometheusTextFormat(text: string): Array<ParsedFamily>
}
