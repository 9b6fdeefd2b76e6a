rule simulate_demo_eb:
    """The built-in demo: one simulated ALMA EB written as a real ASDM, with its truth."""
    input:
        parameters=config.get("demo_parameters", "resources/demo_mous.yaml"),
    output:
        asdm=directory(demo_path("")),
        truth=demo_path(".truth.json"),
        antpos=demo_path(".antennapos.json"),
    log:
        "logs/demo/{eb}.simulate.casa.log",
    benchmark:
        "benchmarks/demo/{eb}.simulate.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("simulate_demo_eb"),
        runtime=job_runtime("simulate_demo_eb"),
    script:
        "../scripts/simulate_eb.py"
