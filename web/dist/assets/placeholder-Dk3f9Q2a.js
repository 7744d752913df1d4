// A stand-in for the web app's build (scripts/web.sh build replaces web/dist).
document.querySelector("main")?.setAttribute("data-placeholder", "true");
