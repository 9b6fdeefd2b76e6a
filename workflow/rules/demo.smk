import yaml


def demo_parameters(wildcards):
    with open(config.get("demo_parameters", "resources/demo_mous.yaml")) as stream:
        return yaml.safe_load(stream)


rule simulate_demo_eb:
    """The built-in demo: one simulated ALMA EB written as a real ASDM, with its truth."""
    output:
        asdm=directory(DEMO_RAW + "/{eb}"),
        truth=DEMO_RAW + "/{eb}.truth.json",
        antpos=DEMO_RAW + "/{eb}.antennapos.json",
    params:
        demo=demo_parameters,
    log:
        "logs/demo/{eb}.simulate.casa.log",
    benchmark:
        "benchmarks/demo/{eb}.simulate.tsv"
    script:
        "../scripts/simulate_eb.py"
