# Shared by scripts/run and scripts/test: the web door's stylesheets and fonts (NL Design System:
# the Utrecht component library with its design tokens, and the Noto Sans font the tokens name)
# and axe-core for the browser tests. Installed from the npm registry with `npm ci` against the
# committed web-assets/package-lock.json and copied into broker/web/static/vendor/ (git-ignored),
# so that the broker serves them itself: no CDN, nothing fetched at run time. Sourced, after
# _venv.sh (it needs $ROOT).

ensure_assets() {
    local assets="$ROOT/web-assets" vendor="$ROOT/broker/web/static/vendor"
    local stamp="$assets/node_modules/.installed"
    if [ ! -f "$stamp" ] || [ "$assets/package-lock.json" -nt "$stamp" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            cat >&2 <<'MSG'
npm was not found. The web pages' stylesheets come from the npm registry at set-up. Install it:
  Debian/Ubuntu:  sudo apt-get install npm
  Fedora/RHEL:    sudo dnf install npm
  macOS:          brew install node
MSG
            exit 3
        fi
        echo "Installing the web assets (npm ci in web-assets/) ..."
        (cd "$assets" && npm ci --no-audit --no-fund --loglevel=error)
        touch "$stamp"
    fi
    if [ ! -f "$vendor/.built" ] || [ "$stamp" -nt "$vendor/.built" ]; then
        local modules="$assets/node_modules"
        rm -rf "$vendor"
        mkdir -p "$vendor/fonts/files"
        cp "$modules/@utrecht/component-library-css/dist/index.css" "$vendor/utrecht-components.css"
        cp "$modules/@utrecht/component-library-css/dist/html.css" "$vendor/utrecht-html.css"
        cp "$modules/@utrecht/design-tokens/dist/theme.css" "$vendor/utrecht-tokens.css"
        cp "$modules/@fontsource-variable/noto-sans/index.css" "$vendor/fonts/noto-sans.css"
        cp "$modules/@fontsource-variable/noto-sans/files/"*-wght-normal.woff2 "$vendor/fonts/files/"
        touch "$vendor/.built"
    fi
}

ensure_browser() {
    # The browser tests drive Debian's Chromium (never a browser download by Playwright). Where it
    # is missing, install it through the system package manager when we may; otherwise the tests
    # skip with a message (and fail instead under BROKER_TEST_REQUIRE_BROWSER=1, as on CI).
    local browser="${BROKER_TEST_CHROMIUM:-/usr/bin/chromium}"
    [ -x "$browser" ] && return 0
    if command -v apt-get >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
        if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
            echo "Installing Chromium for the browser tests (apt-get install chromium) ..."
            $sudo apt-get install -y --no-install-recommends chromium >/dev/null \
                || { $sudo apt-get update >/dev/null && \
                     $sudo apt-get install -y --no-install-recommends chromium >/dev/null; } \
                || echo "Chromium could not be installed; the browser tests will skip." >&2
            return 0
        fi
    fi
    echo "Chromium was not found at $browser; the browser tests will skip." >&2
}
