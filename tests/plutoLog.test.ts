// The lab's reading of pluto's journal. The lines are Libreswan 4.10's own, from the lab's rekey
// scenario (both gateways, one window): the AWS gateway initiated every rekey there, and in CI the
// Azure gateway did, so a count that only knew the initiator's phrasing saw 0 rekeys.
import * as assert from "assert";
import { firstChildSaEstablished, rekeyCount } from "../lab/harness/plutoLog";

const TS = "[10.10.0.0-10.10.255.255:0-65535 0] -> [10.20.0.0-10.20.255.255:0-65535 0]";

/** The initiator's side of one window: two Child SA rekeys, one IKE SA rekey, and the old SAs deleted. */
const INITIATOR = [
    `1795690226.164180 aws-gateway pluto[744]: "tunnel" #4: initiating rekey to replace Child SA #3`,
    `1795690226.167393 aws-gateway pluto[744]: "tunnel" #4: sent CREATE_CHILD_SA request to rekey IPsec SA`,
    `1795690226.184724 aws-gateway pluto[744]: "tunnel" #4: initiator rekeyed Child SA #3 using #1; IPsec tunnel ${TS} {ESPinUDP/ESN=>0x9ce1f378 <0x0c001317 xfrm=AES_GCM_16_256-NONE-DH19 NATD=203.0.113.10:4500 DPD=active}`,
    `1795690227.189020 aws-gateway pluto[744]: "tunnel" #3: deleting established Child SA using IKE SA #1`,
    `1795690282.863476 aws-gateway pluto[744]: "tunnel" #8: initiating rekey to replace IKE SA #1`,
    `1795690283.053153 aws-gateway pluto[744]: "tunnel" #8: initiator rekeyed IKE SA #1 {cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_256 group=DH19}`,
    `1795690284.054542 aws-gateway pluto[744]: "tunnel" #1: deleting state (STATE_V2_ESTABLISHED_IKE_SA) aged 74.36864s and sending notification`,
    `1795690284.882529 aws-gateway pluto[744]: "tunnel" #9: initiator rekeyed Child SA #7 using #8; IPsec tunnel ${TS} {ESPinUDP/ESN=>0x1535c181 <0x30a26bbf xfrm=AES_GCM_16_256-NONE-DH19 NATD=203.0.113.10:4500 DPD=active}`,
    `1795690285.885479 aws-gateway pluto[744]: "tunnel" #7: deleting established Child SA using IKE SA #8`,
].join("\n");

/** The responder's side of the same negotiations: no "initiating", no "deleting established". */
const RESPONDER = [
    `1795690226.182442 azure-gateway pluto[696]: "tunnel" #5: responder rekeyed Child SA #4 using #2; IPsec tunnel ${TS} {ESPinUDP/ESN=>0x0c001317 <0x9ce1f378 xfrm=AES_GCM_16_256-NONE-DH19 NATD=198.51.100.10:4500 DPD=active}`,
    `1795690282.917266 azure-gateway pluto[696]: "tunnel" #9: responder rekeyed IKE SA #2 {cipher=AES_GCM_16_256 integ=n/a prf=HMAC_SHA2_256 group=DH19}`,
    `1795690284.139679 azure-gateway pluto[696]: "tunnel" #2: deleting state (STATE_V2_ESTABLISHED_IKE_SA) aged 74.435847s and NOT sending notification`,
    `1795690284.794086 azure-gateway pluto[696]: "tunnel" #10: responder rekeyed Child SA #8 using #9; IPsec tunnel ${TS} {ESPinUDP/ESN=>0x30a26bbf <0x1535c181 xfrm=AES_GCM_16_256-NONE-DH19 NATD=198.51.100.10:4500 DPD=active}`,
].join("\n");

/** A tunnel coming back after a WAN cut: the old SA's deletion is logged before the new Child SA. */
const RECONNECT = [
    `1795690183.905543 aws-gateway pluto[307]: "tunnel" #2: deleting state (STATE_V2_ESTABLISHED_IKE_SA) aged 396.362212s and NOT sending notification`,
    `1795690184.213044 aws-gateway pluto[307]: "tunnel" #3: deleting established Child SA using IKE SA #2`,
    `1795690210.787950 aws-gateway pluto[744]: "tunnel" #1: initiator established IKE SA; authenticated peer using authby=secret and ID_IPV4_ADDR '203.0.113.10'`,
    `1795690212.147745 aws-gateway pluto[744]: "tunnel" #2: initiator established Child SA using #1; IPsec tunnel ${TS} {ESPinUDP/ESN=>0x4248efe6 <0x3d255a71 xfrm=AES_GCM_16_256-NONE NATD=203.0.113.10:4500 DPD=active}`,
    `1795690386.875580 aws-gateway pluto[1102]: "tunnel" #4: responder established Child SA using #3; IPsec tunnel ${TS} {ESPinUDP/ESN=>0x9eaa1174 <0x01b50ea7 xfrm=AES_GCM_16_256-NONE NATD=203.0.113.10:4500 DPD=active}`,
].join("\n");

describe("lab: pluto's journal", function () {
    it("counts each rekey once on either gateway, whichever side initiated it", function () {
        assert.strictEqual(rekeyCount(INITIATOR), 3);
        assert.strictEqual(rekeyCount(RESPONDER), 3);
    });

    it("counts no rekey in a fresh negotiation or the deletion of an old SA", function () {
        assert.strictEqual(rekeyCount(RECONNECT), 0);
    });

    it("dates the first new Child SA, not the deletion of the old one before it", function () {
        assert.strictEqual(firstChildSaEstablished(RECONNECT), 1795690212.147745);
        assert.strictEqual(firstChildSaEstablished(RESPONDER), undefined);
        assert.strictEqual(firstChildSaEstablished(RECONNECT.split("\n").slice(4).join("\n")), 1795690386.87558);
    });
});
