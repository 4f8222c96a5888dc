"""Tables of the diagnostic options: `sslr reconstruct --by-radius` (experiments/failure_modes.py) and
`sslr match --breakdown` (experiments/match_breakdown.py)."""

from __future__ import annotations

from rich.table import Table

from sslr_cli.commands.common import out


def _opt(v, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def print_failure_modes(diagnoses, threshold: float) -> None:
    """One table of failure modes per model, the one-circle outcome by radius, and SSLR-SRN's refinement."""
    for d in diagnoses:
        table = Table(title=f"{d.label}: why images are not completely disentangled (threshold {threshold:g})",
                      caption="more: the k largest elements' share of the drawn intensity and the first extra element's "
                              "peak; fewer: the brightest element's peak and the effective number of elements drawing")
        for col in ("# circles", "images", "disentangled %", "fewer %", "more %", "% by non-empty elements",
                    "more: top-k share", "more: extra peak", "fewer: top peak", "fewer: elements"):
            table.add_column(col, justify="right")
        for c in d.counts:
            hist = ", ".join(f"{n}: {p:g}" for n, p in c.nonempty_histogram.items())
            table.add_row(str(c.count), str(c.images), f"{c.rate:.1f}", f"{c.fewer:.1f}", f"{c.more:.1f}", hist,
                          _opt(c.more_top_k_mass_share_median, ".3f"), _opt(c.more_extra_peak_median, ".3f"),
                          _opt(c.fewer_top_peak_median, ".3f"), _opt(c.fewer_effective_elements_median, ".2f"))
        out.print(table)
        one = next((c for c in d.counts if c.count == 1), None)
        if one is None or not one.by_radius:
            continue
        refine = {r.radius: r for r in d.refinement}
        table = Table(title=f"{d.label}: one circle, by radius (% of that radius's images)")
        for col in ("radius (px)", "images", "one element %", "none %", "two or more %"):
            table.add_column(col, justify="right")
        if refine:
            for col in ("||z - z(blank)||", "||H_agg(S0) - z||^2", "largest ||S_r - S0||"):
                table.add_column(col, justify="right")
        for r in one.by_radius:
            row = [str(r.radius), str(r.images), f"{r.rate:.1f}", f"{r.none:.1f}", f"{r.more:.1f}"]
            if refine:
                x = refine[r.radius]
                row += [f"{x.z_from_blank:.2f}", f"{x.initial_inner_loss:.1f}", f"{x.largest_element_move:.2f}"]
            table.add_row(*row)
        out.print(table)


def print_match_breakdown(per_model: dict) -> None:
    """Table 3's errors by fifth of the target distance, averaged over each model's runs."""
    first = next(iter(per_model.values()))
    table = Table(title="Relative error % (share of the total) and per-pair L2, by fifth of the pairs sorted by target")
    table.add_column("model", style="bold")
    for p in first:
        table.add_column(f"{p.part}: {p.target_min:.3f}-{p.target_max:.3f}", justify="right")
    for model, parts in per_model.items():
        table.add_row(model, *[f"{p.relative_error:.1f} ({100 * p.share_of_relative_error:.0f}%) / {p.mse:.4f}"
                               for p in parts])
    out.print(table)
