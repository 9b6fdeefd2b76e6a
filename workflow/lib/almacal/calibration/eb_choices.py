"""Every choice derived from an EB's data, in one file: {eb}.ms.choices.json.

Field roles (the check source included), science spws, the Tsys field and spw maps, the reference
antennas with the reason for each (geometry and the a-priori flags), and what the data carry
(WVR window, SYSCAL rows, ATMOSPHERE scans). The jobs downstream read their choices from it;
the QA report shows it.
"""

from pathlib import Path

from almacal import choices, jsonio


def eb_choices(
    *,
    eb: str,
    metadata: str,
    apriori: str,
    output: str,
    field_roles: dict,
    science_spws: list[int],
    refant: str,
    tsys_field_map: dict,
    tsys_spwmap: list[int],
    log: str,
) -> None:
    flagged = jsonio.load(apriori).get("antenna", {})
    try:
        resolved = choices.resolve(
            metadata,
            roles=field_roles,
            spws=science_spws,
            refant=refant,
            tsys_fields=tsys_field_map,
            spwmap=tsys_spwmap,
            flagged_fractions=flagged,
        )
    except ValueError as err:
        raise ValueError(f"EB {eb}: {err}") from None
    record = {"eb": eb, **resolved.record()}
    jsonio.write(output, record)
    Path(log).write_text(describe(record))


def describe(record: dict) -> str:
    """The choices in words, one per line (the job's log)."""
    lines = [f"choices of EB {record['eb']} ({record['ms']})"]
    lines += [
        f"  {role}: {', '.join(names) or '-'}" for role, names in record["field_roles"].items()
    ]
    lines.append(
        "  science spws: " + ", ".join(f"{s['id']} {s['name']}" for s in record["science_spws"])
    )
    lines += [f"  Tsys of {f} from {t}" for f, t in record["tsys_field_map"].items()]
    lines += [
        f"  Tsys of spw {s['id']} from spw {record['tsys_spwmap'][s['id']]}"
        for s in record["science_spws"]
        if record["tsys_spwmap"]
    ]
    lines += [
        f"  refant {i + 1}: {c['name']} ({c['reason']})" for i, c in enumerate(record["refants"])
    ]
    lines.append(f"  data: {record['data']}")
    return "\n".join(lines) + "\n"
