// The bundle's entry: JsSIP as the page's global JsSIP (esbuild --global-name=JsSIP).
module.exports = require('jssip');
