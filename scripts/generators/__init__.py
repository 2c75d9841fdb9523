"""What scripts/generate.py writes from the agent's config schema: the configuration reference and
the docs' default tables (docs.py), and the files of roles/aiops_agent_config (role.py). Both read
the schema through schema.py only. bench_figures.py renders the benchmark figures of the README and
docs from the benchmarks' committed results.json. files.py writes or checks them, for
scripts/generate_mixin.py too."""
