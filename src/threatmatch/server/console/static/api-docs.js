// Starts Swagger UI on /docs from files served by threatmatch itself (no CDN, no inline script: the
// Content-Security-Policy is default-src 'self').
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
