# The two commands a newcomer needs: `make run` (local stack) and `make test` (every check).
.PHONY: run test bench fmt
run:
	infra/scripts/run.sh
test:
	infra/scripts/test.sh
bench:
	infra/scripts/bench.sh
fmt:
	cargo fmt --all
