#!/usr/bin/env bash
# Wheel smoke test: build neuromorph's wheel, install it into a fresh virtual environment and run the CLI
# from an empty directory, so nothing of the repository can be found (the shipped model cards and hardware
# profiles must come out of the wheel through importlib.resources).
#
# The fresh environment does not download its dependencies again: it is made with --without-pip, the wheel
# is installed into it with --no-deps (by this project's pip, `pip --python`), and only then a .pth file adds
# a directory of links to the project venv's installed distributions, leaving out everything of neuromorph
# itself (its editable finder, its .pth and its dist-info). The console script, the package and its metadata
# are the wheel's; the script asserts that neuromorph is imported from the fresh environment.
#
# Usage: .ci/wheel_smoke.sh [VENV]   (VENV: the project venv with the dependencies, default .venv; relative to
# the repository root or absolute)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${1:-.venv}
[[ $VENV == /* ]] || VENV="$ROOT/$VENV"
PROJECT_PY="$VENV/bin/python"
[[ -x $PROJECT_PY ]] || { echo "wheel smoke: no python in $VENV (run make install first)" >&2; exit 1; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
start=$SECONDS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# numba's cache of the compiled kernels goes with the rest (it is keyed by the install path: always cold here)
export NUMBA_CACHE_DIR="$WORK/numba"

fail() { echo "wheel smoke: FAIL: $*" >&2; exit 1; }
# run a pip command quietly; on failure show its output (less the warnings about this machine's local indexes)
quiet() { "$@" >"$WORK/log" 2>&1 || { grep -v "^WARNING: Location" "$WORK/log" >&2; fail "$*"; }; }

# 1. the wheel, built from the tracked and untracked-but-not-ignored files only (no stale build/ or .venv)
mkdir "$WORK/src" "$WORK/dist"
git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - | tar -xf - -C "$WORK/src"
quiet "$PROJECT_PY" -m pip wheel --no-deps --no-build-isolation --wheel-dir "$WORK/dist" "$WORK/src"
WHEEL=$(ls "$WORK"/dist/neuromorph-*.whl) || fail "no wheel built"

# 2. a fresh environment holding the wheel, then the project's dependencies (not neuromorph) behind it
"$PROJECT_PY" -c "import sys; assert sys.version_info >= (3, 11)"
"$PROJECT_PY" -m venv --without-pip "$WORK/venv"
PY="$WORK/venv/bin/python"
quiet "$PROJECT_PY" -m pip --python "$PY" install --no-deps --no-index "$WHEEL"
SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
DEPS_SITE=$("$PROJECT_PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
mkdir "$WORK/deps"
for entry in "$DEPS_SITE"/*; do
    case "$(basename "$entry")" in
        neuromorph|neuromorph-*|__editable__*neuromorph*|*.pth|__pycache__) ;;
        *) ln -s "$entry" "$WORK/deps/" ;;
    esac
done
echo "$WORK/deps" > "$SITE/zz_project_dependencies.pth"

installed=$SECONDS
# 3. the CLI from an empty directory
RUN="$WORK/empty"
mkdir "$RUN"
cd "$RUN"
NM="$WORK/venv/bin/neuromorph"
where=$("$PY" -c "import neuromorph, importlib.metadata as m; print(neuromorph.__file__, m.version('neuromorph'))")
[[ $where == "$SITE/neuromorph/__init__.py "* ]] || fail "neuromorph imported from elsewhere: $where"

out=$("$NM" --version) && [[ $out == "neuromorph ${where##* }" ]] || fail "--version: $out"

out=$("$NM" profiles) || fail "neuromorph profiles exited $?"
rows=$(grep -cE "^(brainscales2|ideal|loihi1|loihi2|spinnaker2|xylo) " <<<"$out" || true)
[[ $rows == 6 ]] || fail "neuromorph profiles: expected 6 profile rows, got $rows:"$'\n'"$out"

# the tutorial card is rejected on loihi2 (exit 1, one line on stderr); the chip card runs (exit 0)
set +e
out=$("$NM" check models/eprop_sine.toml --profile loihi2 2>"$WORK/err"); rc=$?
set -e
[[ $rc == 1 && $out == *"=> rejected"* && $(wc -l <"$WORK/err") == 1 ]] \
    || fail "check models/eprop_sine.toml: rc $rc, stdout: $out, stderr: $(cat "$WORK/err")"
out=$("$NM" check eprop_sine_chip --profile loihi2) && [[ $out == *"=> runs"* ]] || fail "check eprop_sine_chip: $out"

set +e
"$NM" check models/no_such_card.toml --profile loihi2 >/dev/null 2>"$WORK/err"; rc=$?
set -e
[[ $rc == 1 && $(cat "$WORK/err") == *"no shipped model card of that name; shipped: "*"eprop_sine,"* ]] \
    || fail "unknown card name: rc $rc, stderr: $(cat "$WORK/err")"

checked=$SECONDS
out=$("$NM" train models/eprop_sine.toml --set train.iterations=5 --out X.h5 --no-progress) \
    || fail "train exited $?: $out"
[[ -s X.h5 && $out == "X.h5: 5 iterations, loss "* ]] || fail "train: $out"

[[ -z $(ls -A "$RUN" | grep -v '^X.h5$') ]] || fail "the commands wrote into the working directory: $(ls -A "$RUN")"
echo "wheel smoke: ok ($(basename "$WHEEL"); $((SECONDS - start)) s: build and install $((installed - start)) s," \
     "version/profiles/check $((checked - installed)) s, train 5 iterations $((SECONDS - checked)) s incl. cold numba compile)"
